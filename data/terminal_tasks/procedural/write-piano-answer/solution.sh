echo piano > /app/answer.txt
