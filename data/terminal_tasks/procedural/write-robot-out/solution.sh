echo robot > /app/out.txt
