public import EventLogFoundation
import Foundation
import SwiftCSV

/// A restaurant orders are placed at (static reference data: there are no restaurant events).
public struct Restaurant: Sendable, Hashable, Codable {
    /// A stable integer id derived from the store number (or assigned for built-in stores).
    public var storeId: Int64
    /// The store's name.
    public var name: String
    /// City, state and country as given by the store list.
    public var city: String, state: String, country: String
    /// Where it is.
    public var location: GeoPoint
}

/// What went wrong reading a store list, and where.
public struct StoreListError: Error, CustomStringConvertible, Sendable {
    /// The file.
    public var path: String
    /// The data record (1 = first row after the header), if the problem is in one.
    public var record: Int?
    /// What is wrong.
    public var message: String
    public var description: String { "\(path)\(record.map { ", record \($0)" } ?? ""): \(message)" }
}

/// Which stores to use.
public struct StoreFilter: Sendable, Hashable {
    /// ISO country code, e.g. `US` (default). `nil` keeps every country.
    public var country: String? = "US"
    /// State or province code, e.g. `CA`.
    public var state: String?
    /// City name (case-insensitive).
    public var city: String?
    /// Bounding box: min latitude, min longitude, max latitude, max longitude.
    public var boundingBox: (minLatitude: Double, minLongitude: Double, maxLatitude: Double, maxLongitude: Double)?
    /// Keep at most this many (after the other filters, in file order).
    public var limit: Int?

    /// Keeps US stores.
    public init() {}

    public static func == (a: StoreFilter, b: StoreFilter) -> Bool {
        a.country == b.country && a.state == b.state && a.city == b.city && a.limit == b.limit
            && a.boundingBox.map { [$0.0, $0.1, $0.2, $0.3] } == b.boundingBox.map { [$0.0, $0.1, $0.2, $0.3] }
    }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(country)
        hasher.combine(state)
        hasher.combine(city)
        hasher.combine(limit)
    }

    func accepts(_ r: Restaurant) -> Bool {
        if let country, r.country.caseInsensitiveCompare(country) != .orderedSame { return false }
        if let state, r.state.caseInsensitiveCompare(state) != .orderedSame { return false }
        if let city, r.city.caseInsensitiveCompare(city) != .orderedSame { return false }
        if let box = boundingBox {
            guard (box.minLatitude...box.maxLatitude).contains(r.location.latitude),
                (box.minLongitude...box.maxLongitude).contains(r.location.longitude)
            else { return false }
        }
        return true
    }
}

/// Reads store lists: the two public Starbucks formats (Kaggle `directory.csv` and the Socrata US
/// export, whose address field spans lines) through a real CSV parser, or the built-in set.
public enum RestaurantCatalog {
    /// A parsed store list.
    public struct StoreList: Sendable {
        /// The stores that passed the filters.
        public var restaurants: [Restaurant]
        /// Rows that passed the name filters but have no coordinates at all (the public lists have a few).
        public var skippedWithoutCoordinates: Int
    }

    /// Reads and filters a store list; the format is recognised from its header.
    ///
    /// - Throws: ``StoreListError`` naming the file and record for unreadable files, unknown formats,
    ///   unparseable CSV, short rows and malformed or out-of-range coordinates. Rows with *empty*
    ///   coordinates are skipped and counted instead.
    public static func load(path: String, filter: StoreFilter = StoreFilter()) throws -> StoreList {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StoreListError(path: path, record: nil, message: "cannot read the file")
        }
        return try parseList(String(decoding: data, as: UTF8.self), path: path, filter: filter)
    }

    /// Parses store-list text and returns the stores; `path` is only used in errors.
    public static func parse(_ text: String, path: String = "(text)", filter: StoreFilter = StoreFilter()) throws
        -> [Restaurant]
    {
        try parseList(text, path: path, filter: filter).restaurants
    }

    /// Parses store-list text (see ``load(path:filter:)``).
    public static func parseList(_ text: String, path: String = "(text)", filter: StoreFilter = StoreFilter()) throws
        -> StoreList
    {
        let csv: CSV<Enumerated>
        do { csv = try CSV<Enumerated>(string: text, delimiter: .comma, loadColumns: false) } catch {
            throw StoreListError(path: path, record: nil, message: "not valid CSV: \(error)")
        }
        let header = csv.header.map { $0.trimmingCharacters(in: .whitespaces) }
        func column(_ names: String...) -> Int? { names.lazy.compactMap { header.firstIndex(of: $0) }.first }
        guard let number = column("Store Number"), let name = column("Store Name", "Name"), let city_ = column("City"),
            let state_ = column("State/Province", "State"), let country_ = column("Country"),
            let latitude = column("Latitude"), let longitude = column("Longitude")
        else {
            throw StoreListError(
                path: path, record: nil,
                message:
                    "unknown store-list format: expected columns Store Number, Store Name (or Name), City, State/Province (or State), Country, Latitude, Longitude"
            )
        }
        var result: [Restaurant] = []
        var seen = Set<Int64>()
        var skipped = 0
        for (index, row) in csv.rows.enumerated() {
            let record = index + 1
            guard row.count == header.count else {
                throw StoreListError(
                    path: path, record: record, message: "has \(row.count) fields; the header has \(header.count)")
            }
            // Name filters first: rows of other countries or cities are not this run's business.
            if let country = filter.country, row[country_].caseInsensitiveCompare(country) != .orderedSame { continue }
            if let state = filter.state, row[state_].caseInsensitiveCompare(state) != .orderedSame { continue }
            if let city = filter.city, row[city_].caseInsensitiveCompare(city) != .orderedSame { continue }
            if row[latitude].trimmingCharacters(in: .whitespaces).isEmpty
                && row[longitude].trimmingCharacters(in: .whitespaces).isEmpty
            {
                skipped += 1
                continue
            }
            guard let lat = Double(row[latitude]), let lon = Double(row[longitude]) else {
                throw StoreListError(
                    path: path, record: record,
                    message: "latitude '\(row[latitude])' / longitude '\(row[longitude])' are not numbers")
            }
            guard (-90...90).contains(lat), (-180...180).contains(lon) else {
                throw StoreListError(
                    path: path, record: record, message: "coordinates (\(lat), \(lon)) are out of range")
            }
            let digits = row[number].filter(\.isNumber)
            guard let id = Int64(digits.prefix(18)), !digits.isEmpty else {
                throw StoreListError(path: path, record: record, message: "store number '\(row[number])' has no digits")
            }
            let restaurant = Restaurant(
                storeId: id, name: row[name], city: row[city_], state: row[state_], country: row[country_],
                location: GeoPoint(unchecked: lon, lat))
            guard filter.accepts(restaurant), seen.insert(id).inserted else { continue }
            result.append(restaurant)
            if let limit = filter.limit, result.count >= limit { break }
        }
        return StoreList(restaurants: result, skippedWithoutCoordinates: skipped)
    }

    /// The built-in stores, the project's own (no third-party data): `perCity` synthetic cafés around the
    /// centres of 20 large US cities, placed deterministically within 8 km of each centre.
    public static func builtIn(perCity: Int = 5, filter: StoreFilter = StoreFilter()) -> [Restaurant] {
        var random = SplitMix64(seed: 0x5EED)
        var result: [Restaurant] = []
        for (cityIndex, city) in cityCentres.enumerated() {
            for k in 0..<perCity {
                let distance = 500 + random.nextDouble() * 7_500
                let bearing = random.nextDouble() * 360
                let point = Geo.destination(from: city.centre, meters: distance, bearing: bearing)
                let restaurant = Restaurant(
                    storeId: Int64(1_000_000 + cityIndex * 1000 + k), name: "Corner Café \(city.name) #\(k + 1)",
                    city: city.name, state: city.state, country: "US",
                    location: GeoPoint(
                        unchecked: (point.longitude * 1e6).rounded() / 1e6, (point.latitude * 1e6).rounded() / 1e6))
                if filter.accepts(restaurant) { result.append(restaurant) }
            }
        }
        if let limit = filter.limit { result = Array(result.prefix(limit)) }
        return result
    }

    static let cityCentres: [(name: String, state: String, centre: GeoPoint)] = [
        ("New York", "NY", GeoPoint(unchecked: -74.0060, 40.7128)),
        ("Los Angeles", "CA", GeoPoint(unchecked: -118.2437, 34.0522)),
        ("Chicago", "IL", GeoPoint(unchecked: -87.6298, 41.8781)),
        ("Houston", "TX", GeoPoint(unchecked: -95.3698, 29.7604)),
        ("Phoenix", "AZ", GeoPoint(unchecked: -112.0740, 33.4484)),
        ("Philadelphia", "PA", GeoPoint(unchecked: -75.1652, 39.9526)),
        ("San Antonio", "TX", GeoPoint(unchecked: -98.4936, 29.4241)),
        ("San Diego", "CA", GeoPoint(unchecked: -117.1611, 32.7157)),
        ("Dallas", "TX", GeoPoint(unchecked: -96.7970, 32.7767)),
        ("San Jose", "CA", GeoPoint(unchecked: -121.8863, 37.3382)),
        ("Austin", "TX", GeoPoint(unchecked: -97.7431, 30.2672)),
        ("Seattle", "WA", GeoPoint(unchecked: -122.3321, 47.6062)),
        ("San Francisco", "CA", GeoPoint(unchecked: -122.4194, 37.7749)),
        ("Denver", "CO", GeoPoint(unchecked: -104.9903, 39.7392)),
        ("Boston", "MA", GeoPoint(unchecked: -71.0589, 42.3601)),
        ("Atlanta", "GA", GeoPoint(unchecked: -84.3880, 33.7490)),
        ("Miami", "FL", GeoPoint(unchecked: -80.1918, 25.7617)),
        ("Portland", "OR", GeoPoint(unchecked: -122.6784, 45.5152)),
        ("Minneapolis", "MN", GeoPoint(unchecked: -93.2650, 44.9778)),
        ("Washington", "DC", GeoPoint(unchecked: -77.0369, 38.9072)),
    ]
}
