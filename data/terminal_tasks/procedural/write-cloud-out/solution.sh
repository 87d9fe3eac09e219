echo cloud > /app/out.txt
