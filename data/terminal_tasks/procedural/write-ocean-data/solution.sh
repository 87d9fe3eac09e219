echo ocean > /app/data.txt
