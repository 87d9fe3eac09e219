echo green > /app/out.txt
