echo ocean > /app/out.txt
