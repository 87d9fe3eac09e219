echo apple > /app/answer.txt
