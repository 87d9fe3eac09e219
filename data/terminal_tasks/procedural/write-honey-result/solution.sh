echo honey > /app/result.txt
