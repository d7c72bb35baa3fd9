import GridCore
import XCTest

/// The small hand-written JSON of error payloads.
final class JSONTextTests: XCTestCase {
    private func quoted(_ value: String) -> String {
        var out: [UInt8] = []
        JSONText.appendString(value, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private func fields(_ json: String) -> [String: String]? {
        JSONText.flatStringFields(Array(json.utf8))
    }

    func testAppendStringEscapes() {
        XCTAssertEqual(quoted(""), #""""#)
        XCTAssertEqual(quoted("plain"), #""plain""#)
        XCTAssertEqual(quoted("a\"b"), #""a\"b""#)
        XCTAssertEqual(quoted("a\\b"), #""a\\b""#)
        XCTAssertEqual(quoted("\n\r\t"), #""\n\r\t""#)
        XCTAssertEqual(quoted("\u{0}\u{8}\u{c}\u{1b}\u{1f}"), #""\u0000\u0008\u000c\u001b\u001f""#)
        XCTAssertEqual(quoted("\u{7f} é"), "\"\u{7f} é\"", "DEL and non-ASCII pass through as UTF-8")
        XCTAssertEqual(quoted("/"), #""/""#)
    }

    func testAppendStringAppends() {
        var out = Array("x=".utf8)
        JSONText.appendString("y", to: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), #"x="y""#)
    }

    func testReadsFlatObjects() {
        XCTAssertEqual(fields("{}"), [:])
        XCTAssertEqual(fields(" { } "), [:])
        XCTAssertEqual(fields(#"{"a":"x","b":"y"}"#), ["a": "x", "b": "y"])
        XCTAssertEqual(fields(" \n{ \"a\" :\t\"x\" ,\r\n \"b\" : \"\" }\n "), ["a": "x", "b": ""])
        XCTAssertEqual(fields(#"{"n":12,"m":-3,"z":0}"#), ["n": "12", "m": "-3", "z": "0"], "integers read as their digits")
        XCTAssertEqual(fields(#"{"a":"1","a":"2"}"#), ["a": "2"], "the last duplicate wins")
    }

    func testReadsEscapes() {
        XCTAssertEqual(fields(#"{"a":"q\"b\\s\/n\nr\rt\t"}"#), ["a": "q\"b\\s/n\nr\rt\t"])
        XCTAssertEqual(fields(#"{"a":"\u0041\u00e9\u2603\u0000"}"#), ["a": "Aé☃\u{0}"])
        XCTAssertEqual(fields(#"{"\u006b":"v"}"#), ["k": "v"], "keys are strings too")
        XCTAssertEqual(fields("{\"a\":\"é😀\"}"), ["a": "é😀"], "raw UTF-8 passes through")
    }

    func testRoundTripsEveryASCIICharacterThroughAppendString() {
        let all = String(decoding: (0..<128).map { UInt8($0) }, as: UTF8.self)
        var object: [UInt8] = Array("{".utf8)
        JSONText.appendString(all, to: &object)
        object += Array(":".utf8)
        JSONText.appendString(all, to: &object)
        object += Array("}".utf8)
        XCTAssertEqual(JSONText.flatStringFields(object), [all: all])
    }

    func testRefusesAnythingElse() {
        let refused = [
            "", " ", "null", "[]", #"["a"]"#, #""a""#, "{", "}", #"{"a"}"#, #"{"a":}"#, #"{"a":"x",}"#, #"{"a":"x""#,
            #"{"a":"x"} x"#, #"{"a":"x"}{}"#, #"{a:"x"}"#, #"{'a':'x'}"#, #"{"a":true}"#, #"{"a":null}"#,
            #"{"a":1.5}"#, #"{"a":1e3}"#, #"{"a":{"b":"c"}}"#, #"{"a":["b"]}"#, #"{"a":"x" "b":"y"}"#,
            #"{"a":"unterminated}"#, #"{"a":"\u00"}"#, #"{"a":"\u12G4"}"#, #"{"a":"\"#, #"{"a":"x\"}"#,
        ]
        for json in refused { XCTAssertNil(fields(json), json) }
    }

    func testRefusesALoneSurrogateEscape() {
        XCTAssertNil(fields(#"{"a":"\ud800"}"#))
    }
}

final class JSONTextEscapeTests: XCTestCase {
    func testStandardEscapesAndSurrogatePairsAreRead() {
        XCTAssertEqual(JSONText.flatStringFields(Array(#"{"a":"x\by\fz\/"}"#.utf8)), ["a": "x\u{8}y\u{c}z/"])
        XCTAssertEqual(JSONText.flatStringFields(Array(#"{"a":"\ud83d\ude00"}"#.utf8)), ["a": "😀"])
        XCTAssertEqual(JSONText.flatStringFields(Array(#"{"a":"\u00e9"}"#.utf8)), ["a": "é"])
    }

    func testMalformedEscapesAndNumbersAreRefused() {
        XCTAssertNil(JSONText.flatStringFields(Array(#"{"a":"\u+041"}"#.utf8)))
        XCTAssertNil(JSONText.flatStringFields(Array(#"{"a":"\ud83d"}"#.utf8)), "a lone high surrogate")
        XCTAssertNil(JSONText.flatStringFields(Array(#"{"a":"\q"}"#.utf8)))
        XCTAssertNil(JSONText.flatStringFields(Array(#"{"a":-}"#.utf8)))
        XCTAssertNil(JSONText.flatStringFields(Array(#"{"b":1-2}"#.utf8)))
        XCTAssertEqual(JSONText.flatStringFields(Array(#"{"b":-12}"#.utf8)), ["b": "-12"])
    }
}
