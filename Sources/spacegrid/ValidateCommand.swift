import ArgumentParser
import Foundation
import GridTopology

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a topology file; print every problem with its line and column.")

    @Argument(help: "The topology file.") var file: String = Defaults.topologyPath

    func run() throws {
        do {
            let topology = try Topology.load(path: file)
            let units = topology.sections.reduce(0) { $0 + $1.units }
            let partitions = topology.sections.reduce(0) { $0 + $1.partitionCount }
            let scaled = topology.sections.compactMap { section in
                section.autoscale.map { "\(section.name) \($0.min)...\($0.max) units at \($0.targetPerUnit) requests/s per unit" }
            }
            let autoscale = scaled.isEmpty ? "" : "; autoscale: " + scaled.joined(separator: ", ")
            let hosts = topology.hosts.isEmpty ? "" : "; hosts: " + topology.hosts.map { "\($0.name) (\($0.address))" }.joined(separator: ", ")
            let security = topology.security.map { "; security: \($0.mode.rawValue), keys in \($0.keys)" } ?? ""
            print("\(file): ok: grid '\(topology.grid)', \(topology.sections.count) sections, \(units) units, \(partitions) partitions\(autoscale)\(hosts)\(security)")
        } catch {
            FileHandle.standardError.write(Data("\(error.description)\n".utf8))
            let count = error.problems.count
            FileHandle.standardError.write(Data("\(file): \(count) problem\(count == 1 ? "" : "s")\n".utf8))
            throw ExitCode(2)
        }
    }
}

enum Defaults {
    static let topologyPath = "topologies/trading.yaml"
}
