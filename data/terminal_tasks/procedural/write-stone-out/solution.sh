echo stone > /app/out.txt
