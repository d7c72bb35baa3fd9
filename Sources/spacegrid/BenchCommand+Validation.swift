/// What is wrong with a `spacegrid bench` command line, checked before anything starts.
extension Bench {
    /// The first problem with the options, as a message for the user; nil when there is none.
    var problem: String? {
        if let problem = loopProblem { return problem }
        if let problem = keyProblem { return problem }
        return workload.isTrading ? tradingProblem : keyedProblem
    }

    /// Connections, depth, threads, times, rate, relay.
    private var loopProblem: String? {
        guard (1...1_024).contains(connections) else { return "--connections must be between 1 and 1024, got \(connections)" }
        guard (1...10_000).contains(depth) else { return "--depth must be between 1 and 10000, got \(depth)" }
        if let threads {
            guard (1...64).contains(threads) else { return "--threads must be between 1 and 64, got \(threads)" }
        }
        guard duration.isFinite, duration > 0 else { return "--duration must be a positive number of seconds, got \(duration)" }
        guard warmup.isFinite, warmup >= 0 else { return "--warmup must be zero or a positive number of seconds, got \(warmup)" }
        if let rate {
            guard rate.isFinite, rate > 0 else { return "--rate must be a positive number of requests per second, got \(rate)" }
            guard rate <= 10_000_000 else { return "--rate must be at most 10000000 requests per second, got \(rate)" }
        }
        if let relayWorkers {
            guard relay else { return "--relay-workers applies to --relay" }
            guard (1...256).contains(relayWorkers) else { return "--relay-workers must be between 1 and 256, got \(relayWorkers)" }
        }
        return nil
    }

    /// The distribution and its exponent.
    private var keyProblem: String? {
        let names = BenchDistributionName.allCases.map(\.rawValue)
        if let distribution, !names.contains(distribution) {
            return "--distribution must be \(names.joined(separator: " or ")), got '\(distribution)'"
        }
        if let zipfExponent {
            guard distribution == BenchDistributionName.zipf.rawValue else { return "--zipf-exponent applies to --distribution zipf" }
            guard zipfExponent.isFinite, zipfExponent > 0, zipfExponent <= 10 else {
                return "--zipf-exponent must be above 0 and at most 10, got \(zipfExponent)"
            }
        }
        return nil
    }

    /// trade, place: accounts and products, and no key options.
    private var tradingProblem: String? {
        let misplaced = [keys.map { _ in "--keys" }, valueSize.map { _ in "--value-size" }, section.map { _ in "--section" },
                         readPercent.map { _ in "--read-percent" }].compactMap { $0 }
        guard misplaced.isEmpty else {
            return "\(misplaced.joined(separator: ", ")) \(misplaced.count == 1 ? "applies" : "apply") to get, put and mixed; \(workload.rawValue) runs over --accounts and --products"
        }
        if let accounts, accounts < 1 { return "--accounts must be at least 1, got \(accounts)" }
        if let accounts, accounts > LoadPlan.maxItems { return "--accounts must be at most \(BenchFormat.grouped(LoadPlan.maxItems))" }
        if let products, products < 1 { return "--products must be at least 1, got \(products)" }
        if let products, products > 1_000_000 { return "--products must be at most 1,000,000, got \(products)" }
        return nil
    }

    /// get, put, mixed: keys, values, section, mix, and no trading options.
    private var keyedProblem: String? {
        let misplaced = [accounts.map { _ in "--accounts" }, products.map { _ in "--products" }, noLoad ? "--no-load" : nil].compactMap { $0 }
        guard misplaced.isEmpty else {
            return "\(misplaced.joined(separator: ", ")) \(misplaced.count == 1 ? "applies" : "apply") to trade and place; \(workload.rawValue) runs over --keys"
        }
        if let keys, keys < 1 { return "--keys must be at least 1, got \(keys)" }
        if let valueSize, !(0...1_000_000).contains(valueSize) { return "--value-size must be between 0 and 1000000 bytes, got \(valueSize)" }
        if let section, section.isEmpty { return "--section must not be empty" }
        if let readPercent {
            guard workload == .mixed else { return "--read-percent applies to mixed" }
            guard (0...100).contains(readPercent) else { return "--read-percent must be between 0 and 100, got \(readPercent)" }
        }
        return nil
    }
}
