echo honey > /app/data.txt
