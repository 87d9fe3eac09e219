echo river > /app/data.txt
