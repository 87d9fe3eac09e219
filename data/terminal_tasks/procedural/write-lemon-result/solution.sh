echo lemon > /app/result.txt
