echo maple > /app/out.txt
