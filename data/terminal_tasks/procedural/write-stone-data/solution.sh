echo stone > /app/data.txt
