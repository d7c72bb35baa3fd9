import Foundation
import GridClient
import GridWire
import ZeroMQ

/// One process's memory after a run, from `/proc/<pid>/status`.
struct BenchProcessMemory: Equatable {
    /// `broker`, a unit's name, `mirror` or `bench`.
    var name: String
    var pid: Int32
    /// VmRSS: resident now, in MB of 2^20 bytes; nil when not readable.
    var rssMB: Double?
    /// VmHWM: the peak resident size over the process's life, in MB; nil when not readable.
    var peakRssMB: Double?
    /// Why the numbers are missing, when they are.
    var problem: String?
}

/// The grid's processes, from the broker's status, and their memory on this machine.
enum BenchMemory {
    /// The broker's status (`grid status`), or nil when it does not answer readably.
    static func status(context: Context, endpoint: String, timeoutMilliseconds: Int) -> GridStatus? {
        do {
            let connection = try GridConnection(context: context, endpoint: endpoint)
            defer { connection.close() }
            let reply = try connection.call("grid", "status", key: "-", timeoutMilliseconds: timeoutMilliseconds)
            guard reply.status == .ok else { return nil }
            return GridStatus(decoding: reply.payload)
        } catch {
            return nil
        }
    }

    /// The broker, every unit, the mirror when one reports, then the bench itself.
    static func processes(_ status: GridStatus?) -> [(name: String, pid: Int32)] {
        var processes: [(String, Int32)] = []
        if let status {
            processes.append(("broker", status.brokerPid))
            for section in status.sections {
                for unit in section.units { processes.append((unit.name, unit.pid)) }
            }
            if let mirror = status.mirror { processes.append(("mirror", mirror.pid)) }
        }
        processes.append(("bench", getpid()))
        return processes
    }

    /// Reads every process's memory; a grid process must be a `spacegrid` process here
    /// (a grid on another machine has pids that mean nothing on this one).
    static func measure(_ processes: [(name: String, pid: Int32)]) -> [BenchProcessMemory] {
        processes.map { process in
            let isSelf = process.pid == getpid()
            let folder = "/proc/\(isSelf ? "self" : String(process.pid))"
            guard let text = try? String(contentsOfFile: "\(folder)/status", encoding: .utf8) else {
                return BenchProcessMemory(name: process.name, pid: process.pid, problem: "\(folder)/status is not readable (is the grid on another machine, or the process gone?)")
            }
            if !isSelf {
                let command = (try? Data(contentsOf: URL(fileURLWithPath: "\(folder)/cmdline"))) ?? Data()
                guard String(decoding: command, as: UTF8.self).contains("spacegrid") else {
                    return BenchProcessMemory(name: process.name, pid: process.pid, problem: "pid \(process.pid) here is not a spacegrid process (is the grid on another machine?)")
                }
            }
            let rss = kilobytes("VmRSS:", in: text)
            let peak = kilobytes("VmHWM:", in: text)
            guard let rss, let peak else {
                return BenchProcessMemory(name: process.name, pid: process.pid, problem: "\(folder)/status has no VmRSS or VmHWM")
            }
            return BenchProcessMemory(name: process.name, pid: process.pid, rssMB: megabytes(rss), peakRssMB: megabytes(peak))
        }
    }

    /// The number of kB on the line starting with `field` (`VmHWM:   12345 kB`).
    static func kilobytes(_ field: String, in status: String) -> Int? {
        for line in status.split(separator: "\n") where line.hasPrefix(field) {
            return line.dropFirst(field.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) }
        }
        return nil
    }

    /// The kernel's kB (1,024 bytes) to MB of 2^20 bytes (as `top` and `ps` count), to one decimal.
    private static func megabytes(_ kilobytes: Int) -> Double {
        (Double(kilobytes) / 102.4).rounded() / 10
    }
}
