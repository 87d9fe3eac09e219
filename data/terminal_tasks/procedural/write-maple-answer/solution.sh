echo maple > /app/answer.txt
