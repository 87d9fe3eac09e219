echo cloud > /app/data.txt
