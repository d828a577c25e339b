-- Any usage row that names a reservation.
SELECT FROM rating.usage u WHERE u.reservation_id IS NOT NULL
