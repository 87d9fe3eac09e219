echo lemon > /app/answer.txt
