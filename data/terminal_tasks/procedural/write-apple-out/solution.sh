echo apple > /app/out.txt
