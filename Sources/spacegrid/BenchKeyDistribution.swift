import ArgumentParser
import Foundation
import GridCore

/// How a benchmark picks key numbers (for `trade` and `place`: accounts).
enum BenchDistributionName: String, CaseIterable, ExpressibleByArgument {
    /// Every key equally likely.
    case uniform
    /// Key k (0-based) with a probability proportional to 1 / (k + 1)^s: key 0 is the hottest.
    case zipf
}

/// Picks key numbers 0..<keys from a connection's own generator; built once, shared read-only.
struct BenchKeyDistribution: Sendable {
    private enum Shape: Sendable {
        case uniform
        case zipf(BenchZipf)
    }

    let keys: Int
    private let shape: Shape

    /// For the report.
    var name: BenchDistributionName {
        switch shape {
        case .uniform: .uniform
        case .zipf: .zipf
        }
    }

    /// zipf: the exponent s; nil for uniform.
    var exponent: Double? {
        switch shape {
        case .uniform: nil
        case .zipf(let zipf): zipf.exponent
        }
    }

    /// Every key equally likely.
    static func uniform(keys: Int) -> BenchKeyDistribution {
        BenchKeyDistribution(keys: keys, shape: .uniform)
    }

    /// Key k with a probability proportional to 1 / (k + 1)^`exponent`.
    static func zipf(keys: Int, exponent: Double) -> BenchKeyDistribution {
        BenchKeyDistribution(keys: keys, shape: .zipf(BenchZipf(elements: keys, exponent: exponent)))
    }

    /// The next key number, in 0..<keys.
    @inline(__always)
    func next(_ random: inout SplitMix64) -> Int {
        switch shape {
        case .uniform: random.below(keys)
        case .zipf(let zipf): zipf.next(&random) - 1
        }
    }
}

/// A Zipf sampler over the ranks 1...n, P(k) proportional to 1 / k^s, by
/// rejection-inversion (W. Hörmann and G. Derflinger, "Rejection-inversion to
/// generate variates from monotone discrete distributions", ACM TOMACS 6(3), 1996),
/// as Apache Commons RNG's `RejectionInversionZipfSampler` does it.
///
/// Constant time and memory for any n and any s > 0 (s = 1 included): it
/// inverts the integral of the continuous hat function h(x) = x^-s, rounds to
/// the nearest rank, and accepts unless the point fell under the hat but above
/// the bar of that rank; fewer than a few percent of draws are rejected.
struct BenchZipf: Sendable {
    let elements: Int
    let exponent: Double
    private let hIntegralX1: Double
    private let hIntegralElements: Double
    private let squeeze: Double

    init(elements: Int, exponent: Double) {
        precondition(elements > 0, "a Zipf distribution needs at least one element")
        precondition(exponent > 0 && exponent.isFinite, "a Zipf exponent is positive")
        self.elements = elements
        self.exponent = exponent
        hIntegralX1 = Self.hIntegral(1.5, exponent) - 1
        hIntegralElements = Self.hIntegral(Double(elements) + 0.5, exponent)
        squeeze = 2 - Self.hIntegralInverse(Self.hIntegral(2.5, exponent) - Self.h(2, exponent), exponent)
    }

    /// A rank in 1...elements; rank 1 is the most likely.
    func next(_ random: inout SplitMix64) -> Int {
        while true {
            // A uniform double in [0, 1) from the top 53 bits.
            let uniform = Double(random.next() >> 11) * 0x1p-53
            let u = hIntegralElements + uniform * (hIntegralX1 - hIntegralElements)
            let x = Self.hIntegralInverse(u, exponent)
            var k = Int((x + 0.5).rounded(.down))
            if k < 1 { k = 1 } else if k > elements { k = elements }
            if Double(k) - x <= squeeze || u >= Self.hIntegral(Double(k) + 0.5, exponent) - Self.h(Double(k), exponent) {
                return k
            }
        }
    }

    // MARK: - The hat function and its integral

    /// h(x) = x^-s.
    private static func h(_ x: Double, _ s: Double) -> Double { exp(-s * log(x)) }

    /// H(x) = (x^(1-s) - 1) / (1 - s), or log(x) when s = 1, without cancellation near s = 1.
    private static func hIntegral(_ x: Double, _ s: Double) -> Double {
        let logX = log(x)
        return expm1OverX((1 - s) * logX) * logX
    }

    /// The inverse of H.
    private static func hIntegralInverse(_ x: Double, _ s: Double) -> Double {
        var t = x * (1 - s)
        if t < -1 { t = -1 }  // Rounding can push t just below -1, where log1p is undefined.
        return exp(log1pOverX(t) * x)
    }

    /// log(1 + x) / x, with its Taylor series near 0.
    private static func log1pOverX(_ x: Double) -> Double {
        abs(x) > 1e-8 ? log1p(x) / x : 1 - x * (0.5 - x * (1.0 / 3 - 0.25 * x))
    }

    /// (e^x - 1) / x, with its Taylor series near 0.
    private static func expm1OverX(_ x: Double) -> Double {
        abs(x) > 1e-8 ? expm1(x) / x : 1 + x * 0.5 * (1 + x / 3 * (1 + 0.25 * x))
    }
}
