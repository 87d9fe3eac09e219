echo robot > /app/result.txt
