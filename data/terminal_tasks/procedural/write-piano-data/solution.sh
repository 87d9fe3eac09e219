echo piano > /app/data.txt
