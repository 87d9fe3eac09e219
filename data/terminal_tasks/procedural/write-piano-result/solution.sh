echo piano > /app/result.txt
