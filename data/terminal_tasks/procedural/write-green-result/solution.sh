echo green > /app/result.txt
