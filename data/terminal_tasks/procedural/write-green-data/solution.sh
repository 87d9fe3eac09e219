echo green > /app/data.txt
