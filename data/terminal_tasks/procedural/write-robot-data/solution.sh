echo robot > /app/data.txt
