echo river > /app/result.txt
