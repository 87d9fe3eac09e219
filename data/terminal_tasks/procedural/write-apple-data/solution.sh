echo apple > /app/data.txt
