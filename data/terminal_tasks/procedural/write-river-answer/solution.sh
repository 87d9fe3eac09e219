echo river > /app/answer.txt
