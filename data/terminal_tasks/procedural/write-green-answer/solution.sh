echo green > /app/answer.txt
