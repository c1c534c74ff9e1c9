SELECT orderId as id, lat as point_latitude_2, lon as point_longitude_2,
       restaurantLat as point_latitude_1, restaurantLon as point_longitude_1,
       lastModified as start_time, status, restaurantId, accountId
FROM orders
WHERE ST_DISTANCE(location_st_point, ST_Point(-122.44469, 37.75680, 1)) < 6500
LIMIT 100000
option(skipUpsert=true)
