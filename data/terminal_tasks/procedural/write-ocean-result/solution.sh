echo ocean > /app/result.txt
