echo robot > /app/answer.txt
