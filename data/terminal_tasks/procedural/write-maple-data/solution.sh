echo maple > /app/data.txt
