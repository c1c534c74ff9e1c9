import ArgumentParser
import Foundation
import Simulator

/// The simulator's options — restaurants, drivers, pacing, dispatch, the original's profile — shared by
/// `eventlog simulate` and `eventlog serve --simulate`, so both take the same ones.
struct SimulationOptions: ParsableArguments {
    @Option(help: "A store list (CSV). Default: the built-in restaurants.") var stores: String?
    @Option(help: "Built-in restaurants per city.") var storesPerCity: Int = 5
    @Option(help: "Country code filter ('any' for all).") var country: String = "US"
    @Option(help: "State filter, e.g. CA.") var state: String?
    @Option(help: "City filter, e.g. Seattle.") var city: String?
    @Option(help: "Bounding box: minLat,minLon,maxLat,maxLon.") var bbox: String?
    @Option(help: "Use at most this many restaurants.") var maxStores: Int?
    @Option(help: "Drivers per restaurant (default: 8 for simulate, 1 for serve --simulate).") var driversPerStore: Int?
    @Option(help: "Seconds between orders per restaurant at peak, as MIN-MAX.") var orderInterval: String = "60-95"
    @Option(help: "Driving speed in km/h.") var driveKmh: Double = 30
    @Option(help: "Seconds between location updates while driving.") var stepSeconds: Double = 5
    @Option(help: "Drivers take a break after this many hours online.") var shiftHours: Double?
    @Option(help: "Random seed.") var seed: UInt64 = 42
    @Option(
        help:
            "How drivers find orders: 'view' runs the reference's dispatch query against a live 'orders' view fed by the simulated events; 'grid' asks the simulator's own index (faster). Default: view for simulate, grid for serve --simulate."
    )
    var dispatch: DispatchMode?
    @Option(
        help: """
            'default', or 'original': the original system's load exactly — its first 50 San Francisco stores by \
            store number from --stores (required), one driver each, a fixed interval per store of 60 s + \
            round(rand·35 s), drivers placed at the store when assigned, about 200 m every 2 s of driving \
            (--drivers-per-store, --order-interval, --drive-kmh, --step-seconds and the store filters are then \
            not used).
            """)
    var profile: Profile = .default

    enum Profile: String, ExpressibleByArgument { case `default`, original }

    func validate() throws {
        _ = try parseInterval()
        _ = try parseBox()
        guard (driversPerStore ?? 1) >= 1 else { throw ValidationError("--drivers-per-store must be at least 1") }
        guard storesPerCity >= 1 else { throw ValidationError("--stores-per-city must be at least 1") }
        guard driveKmh > 0, stepSeconds > 0 else {
            throw ValidationError("--drive-kmh and --step-seconds must be positive")
        }
    }

    func parseInterval() throws -> ClosedRange<Double> {
        let parts = orderInterval.split(separator: "-").compactMap { Double($0) }
        guard parts.count == 2, parts[0] > 0, parts[0] <= parts[1] else {
            throw ValidationError("--order-interval must be MIN-MAX seconds, e.g. 60-95; got '\(orderInterval)'")
        }
        return parts[0]...parts[1]
    }

    func parseBox() throws -> (Double, Double, Double, Double)? {
        guard let bbox else { return nil }
        let v = bbox.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard v.count == 4, v[0] <= v[2], v[1] <= v[3] else {
            throw ValidationError("--bbox must be minLat,minLon,maxLat,maxLon; got '\(bbox)'")
        }
        return (v[0], v[1], v[2], v[3])
    }

    /// The restaurants these options choose (reading the store list, when there is one).
    func restaurants() throws -> [Restaurant] {
        var filter = StoreFilter()
        filter.country = country.lowercased() == "any" ? nil : country
        filter.state = state
        filter.city = city
        filter.limit = maxStores
        filter.boundingBox = try parseBox().map { ($0.0, $0.1, $0.2, $0.3) }
        let restaurants: [Restaurant]
        if profile == .original {
            guard let stores else {
                throw ValidationError(
                    "--profile original needs --stores <store list> (the original used its first 50 San Francisco stores)"
                )
            }
            var sanFrancisco = StoreFilter()
            sanFrancisco.country = nil
            sanFrancisco.city = "San Francisco"
            do {
                restaurants = Array(
                    try RestaurantCatalog.load(path: stores, filter: sanFrancisco).restaurants
                        .sorted { $0.storeId < $1.storeId }.prefix(50))
            } catch let error as StoreListError {
                throw ValidationError("\(error)")
            }
        } else if let stores {
            do {
                let list = try RestaurantCatalog.load(path: stores, filter: filter)
                restaurants = list.restaurants
                if list.skippedWithoutCoordinates > 0 {
                    printError("skipped \(list.skippedWithoutCoordinates) stores of \(stores) that have no coordinates")
                }
            } catch let error as StoreListError {
                throw ValidationError("\(error)")
            }
        } else {
            restaurants = RestaurantCatalog.builtIn(perCity: storesPerCity, filter: filter)
        }
        guard !restaurants.isEmpty else { throw ValidationError("no restaurants match the filters") }
        return restaurants
    }

    /// What a command uses where an option is not given: `simulate` is the batch job (8 drivers per store,
    /// dispatch through the live view as the original did); `serve --simulate` runs for as long as the server
    /// does, so it defaults to a lighter world (1 driver per store, grid dispatch).
    struct Defaults {
        var driversPerStore: Int
        var dispatch: DispatchMode
        static let simulate = Defaults(driversPerStore: 8, dispatch: .view)
        static let serve = Defaults(driversPerStore: 1, dispatch: .grid)
    }

    /// The simulation's settings.
    func configuration(_ defaults: Defaults) throws -> SimulationConfiguration {
        var config: SimulationConfiguration
        if profile == .original {
            config = .original
        } else {
            config = SimulationConfiguration()
            config.driversPerRestaurant = driversPerStore ?? defaults.driversPerStore
            config.orderIntervalSeconds = try parseInterval()
            config.speedMetersPerSecond = driveKmh / 3.6
            config.stepSeconds = stepSeconds
        }
        config.shiftHours = shiftHours
        config.seed = seed
        config.dispatch = dispatch ?? defaults.dispatch
        return config
    }
}
