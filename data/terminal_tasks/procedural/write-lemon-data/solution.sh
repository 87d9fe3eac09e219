echo lemon > /app/data.txt
