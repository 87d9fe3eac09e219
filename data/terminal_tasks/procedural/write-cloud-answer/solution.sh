echo cloud > /app/answer.txt
