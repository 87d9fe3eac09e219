echo cloud > /app/result.txt
