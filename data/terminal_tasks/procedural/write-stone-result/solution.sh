echo stone > /app/result.txt
