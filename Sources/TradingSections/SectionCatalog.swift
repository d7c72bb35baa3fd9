import GridCore

/// Every section with domain logic that units can run. A topology section
/// whose name is listed here gets its operations; any other section serves
/// the data operations (`get`, `put`, `del`, `cas`) only.
public enum SectionCatalog {
    public static let all: [Section] = [customerSection, productSection, orderSection]

    public static func section(named name: String) -> Section? {
        all.first { $0.name == name }
    }
}
