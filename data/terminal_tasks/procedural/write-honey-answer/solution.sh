echo honey > /app/answer.txt
