echo piano > /app/out.txt
