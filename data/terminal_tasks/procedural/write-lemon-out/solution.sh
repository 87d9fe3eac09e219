echo lemon > /app/out.txt
