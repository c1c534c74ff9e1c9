SELECT orderId, lastModified as preparedAt,
       ST_DISTANCE(location_st_point, ST_Point(?, ?, 1)) as distance
FROM orders WHERE distance < 15000.0 AND status = 'ORDER_PREPARED'
ORDER BY distance ASC LIMIT 10
