echo maple > /app/result.txt
