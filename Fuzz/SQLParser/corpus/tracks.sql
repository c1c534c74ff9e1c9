SELECT driverId as id, driverLat as lat, driverLon as lon, lastModified as start_time, eventType FROM drivers LIMIT 100000 option(skipUpsert=true)
