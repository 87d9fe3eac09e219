echo apple > /app/result.txt
