echo ocean > /app/answer.txt
